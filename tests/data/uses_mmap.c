/* Test input: application code that maps memory.  Linking it into a walkit image must fail
 * the link check, naming this object. */
#include <stddef.h>
#include <sys/mman.h>

void *walkit_test_uses_mmap(size_t n)
{
    return mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* Images link with --gc-sections: an unreferenced function would be dropped together with its
 * mmap reference.  A constructor keeps it reachable, as real application code would be. */
static volatile int walkit_test_never;

__attribute__((constructor)) static void walkit_test_keep(void)
{
    if (walkit_test_never)
        walkit_test_uses_mmap(4096);
}
