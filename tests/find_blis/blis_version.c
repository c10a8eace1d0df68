/* SPDX-License-Identifier: MIT */
/* blis_version.c: prints the version of the BLIS it was built against. */
#include <blis.h>
#include <stdio.h>

int main(void)
{
    printf("%s\n", bli_info_get_version_str());
    return 0;
}
