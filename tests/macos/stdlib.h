/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
#include <stddef.h>
void *malloc(size_t);
void *realloc(void *, size_t);
void free(void *);
char *getenv(const char *);
