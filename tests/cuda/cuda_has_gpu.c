/* Exit status 0 when a CUDA device is usable, 77 otherwise (the GPU CLI tests skip themselves with it). */
#include <stdio.h>

#include "backend/cuda/cuda_attention.h"

int main(void) {
    char name[160];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    printf("%s\n", name);
    return 0;
}
