/* radial_version: the library's version, RADIAL_VERSION of radial.h (the build checks that it agrees with the
 * version in CMakeLists.txt's project()). */
#include "radial.h"

const char *radial_version(void) { return RADIAL_VERSION; }
