/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
int fsync(int);
int close(int);
