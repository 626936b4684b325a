/* stress_host.c: the host program of stress.c (its main() and the pthread task contract),
 * built by walkit.native.stress.  A file of its own rather than -DSTRESS_HOST_MAIN so the
 * flags, and with them the cached SQLite object, stay the ones every host program shares. */
#define STRESS_HOST_MAIN 1
#include "stress.c"
