/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
extern int errno;
#define EIO 5
#define ENOSPC 28
