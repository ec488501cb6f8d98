/* vectorize.h: function multi-versioning for the element-wise hot loops of the runtime (the same
 * plain C built for several instruction sets, the best one chosen when the program loads). */
#ifndef SURGERY_VECTORIZE_H
#define SURGERY_VECTORIZE_H

/* Ownership: macros and an inline helper; nothing is allocated or owned. */

#include <stdint.h>     /* (defines __GLIBC__ on glibc, which the test below reads) */
#include <string.h>

/* VEC_CLONES, written before a function definition, makes GCC compile that function three
 * times, for the x86-64 baseline (SSE2: 4 floats a vector), AVX2 (8) and x86-64-v4 (AVX-512:
 * 16), and choose one through a glibc ifunc when the program loads. Loops the compiler vectorises
 * at -O2 (element-wise, in blocks of a constant trip count) then use the widest vectors the
 * processor has. The clones give bit-identical results as long as every element sees the same
 * operations in the same order (no sums over elements, which a vectoriser may reorder only under
 * -ffast-math) and a * b + c is not contracted into a fused multiply-add, which GCC does not do
 * in ISO C mode (-std=c11, as the Makefile builds). Other compilers and targets, and sanitizer
 * builds (-O1, which does not vectorise), get the plain function; so does a build with
 * -DVEC_CLONES= (for instance CFLAGS=-DVEC_CLONES= -march=native, or to compare the clones). */
#if !defined(VEC_CLONES) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__ELF__) && defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) &&                \
    defined(__has_attribute)
#if __has_attribute(target_clones)
#define VEC_CLONES __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#endif
#endif
#ifndef VEC_CLONES
#define VEC_CLONES
#endif

/* c ? a : b for the 0/1 result c of a comparison, built from bit masks. A vectoriser turns it
 * into lane masks even where a or b is floating-point arithmetic, which it may not evaluate
 * when the source would not (a ?: it sees as a branch, since the arithmetic could trap). */
static inline __attribute__((always_inline)) float vec_select(int c, float a, float b)
{
    uint32_t ai, bi, m = 0u - (uint32_t)(c != 0);
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    uint32_t r = (ai & m) | (bi & ~m);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

#endif
