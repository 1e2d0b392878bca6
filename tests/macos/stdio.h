/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
#include <stddef.h>
#include <stdarg.h>
typedef struct __sFILE FILE;
FILE *fopen(const char *, const char *);
size_t fread(void *, size_t, size_t, FILE *);
size_t fwrite(const void *, size_t, size_t, FILE *);
int fclose(FILE *);
int fflush(FILE *);
int ferror(FILE *);
int rename(const char *, const char *);
int remove(const char *);
int snprintf(char *, size_t, const char *, ...);
int vsnprintf(char *, size_t, const char *, va_list);
