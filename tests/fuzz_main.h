/* fuzz_main.h - the main() of a fuzz harness built without libFuzzer (-DFUZZ_STANDALONE): runs
   LLVMFuzzerTestOneInput on each file named on the command line, as libFuzzer would, so that
   regression inputs replay under any compiler and sanitizer. Included last by each harness. */
#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    int i, bad = 0;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *buf;
        long n;
        if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
            printf("%s: cannot read\n", argv[i]);
            if (f) fclose(f);
            bad = 1;
            continue;
        }
        buf = (unsigned char *)malloc((size_t)n + 1);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            printf("%s: cannot read\n", argv[i]);
            bad = 1;
        } else {
            LLVMFuzzerTestOneInput(buf, (size_t)n);
        }
        free(buf);
        fclose(f);
    }
    printf("%s: ran %d inputs\n", argv[0], argc - 1);
    return bad;
}
#endif
