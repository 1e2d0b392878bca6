/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
#define assert(x) ((void)0)
