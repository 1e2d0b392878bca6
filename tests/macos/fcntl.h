/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
#define O_RDONLY 0x0000
int open(const char *, int, ...);
