/* Test input: application code that maps memory.  Linking it into a walkit image must fail
 * the link check, naming this object. */
#include <stddef.h>
#include <sys/mman.h>

void *walkit_test_uses_mmap(size_t n)
{
    return mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
