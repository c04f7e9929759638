/* The CLI's subcommands; each lives in its own cmd_<name>.c. argv[0] is the subcommand's name.
 * They return the process exit code: 0 ok, 1 runtime failure, 2 bad usage. */
#ifndef RAD_COMMANDS_H
#define RAD_COMMANDS_H
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_mask(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_compare(int argc, char **argv);
#endif
