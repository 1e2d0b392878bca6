/* see README: declarations only, for a syntax check of convae.h for arm64-apple-macos */
double fabs(double);
double floor(double);
double ceil(double);
double sqrt(double);
double log(double);
double log1p(double);
double exp(double);
double pow(double, double);
double cos(double);
float expf(float);
float sqrtf(float);
double log10(double);
double fmod(double, double);
