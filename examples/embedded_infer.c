/* embedded_infer.c - the lab's autoencoder on a microcontroller: a bare-metal Cortex-M program
   (no OS, no malloc, no stdio, no threads) that runs a model exported by tools/export_c on the
   test images built into it, checks its outputs against the ones the exporting machine computed,
   and reports through semihosting (the debugger's, or qemu's, console) a checksum and each
   image's MSE, then exits.

   Build and run (make mcu does all of it, for Cortex-M4F and M7, under qemu-system-arm):
       bin/export_c model.cae bin/mcu/model.h --test 4            (or --int8)
       arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -O2 -I. -Ibin/mcu \
           -DMODEL_HEADER='"model.h"' -nostartfiles -T tools/mcu/mps2.ld --specs=nano.specs \
           -Wl,--gc-sections -ffunction-sections examples/embedded_infer.c -o infer.elf -lm
       qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel infer.elf
   The library is built with every opt-out and an allocator that always fails, so the link would
   show any allocation; only expf comes from libm (the sigmoid), memcpy and memset from libc. */
#define CONVAE_NO_STDIO
#define CONVAE_NO_TRAIN
#define CONVAE_NO_GZIP
#define CONVAE_STATIC
#define CONVAE_MALLOC(n) ((void)(n), (void *)0) /* nothing here allocates */
#define CONVAE_REALLOC(p, n) ((void)(p), (void)(n), (void *)0)
#define CONVAE_FREE(p) ((void)(p))
#define CONVAE_ASSERT(x) ((void)0)
#define CONVAE_IMPLEMENTATION
#include "convae.h"

#ifndef MODEL_HEADER
#define MODEL_HEADER "model.h"
#endif
#include MODEL_HEADER

/* ------------------------------------------------------------------ semihosting */
enum { SYS_WRITE0 = 0x04, SYS_EXIT = 0x18, ADP_EXIT_OK = 0x20026, ADP_EXIT_ERROR = 0x20023 };

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* A line of text, built a piece at a time and written with one call. */
typedef struct line {
    char s[160];
    int n;
} line;

static void put(line *l, const char *s)
{
    while (*s && l->n < (int)sizeof l->s - 1) l->s[l->n++] = *s++;
    l->s[l->n] = 0;
}

static void put_uint(line *l, unsigned long v, unsigned base, int width)
{
    char d[16];
    int k = 0;
    do d[k++] = "0123456789abcdef"[v % base], v /= base;
    while (v || k < width);
    while (k) {
        char c[2] = {d[--k], 0};
        put(l, c);
    }
}

/* v with 6 decimals, or as d.dde-N below 1e-3 (a tolerance, a difference) */
static void put_num(line *l, double v)
{
    int ex = 0;
    if (v < 0) put(l, "-"), v = -v;
    if (v != 0 && v < 1e-3) {
        while (v < 1.0) v *= 10, ex++;
        put_uint(l, (unsigned long)v, 10, 1);
        put(l, ".");
        put_uint(l, (unsigned long)((v - (unsigned long)v) * 100000 + 0.5) % 100000, 10, 5);
        put(l, "e-");
        put_uint(l, (unsigned long)ex, 10, 2);
        return;
    }
    {
        unsigned long whole = (unsigned long)v, frac = (unsigned long)((v - (double)whole) * 1e6 + 0.5);
        if (frac >= 1000000) whole++, frac -= 1000000;
        put_uint(l, whole, 10, 1);
        put(l, ".");
        put_uint(l, frac, 10, 6);
    }
}

static void say(line *l)
{
    put(l, "\n");
    semihost(SYS_WRITE0, l->s);
    l->n = 0, l->s[0] = 0;
}

/* ------------------------------------------------------------------ the model on the test images */
#define NPIX (MODEL_H * MODEL_W * MODEL_C)
#define NOUT (MODEL_OUT_H * MODEL_OUT_W * MODEL_OUT_C)

static int run(void)
{
    static float x[NPIX], y[NOUT];
#if MODEL_INT8
    static unsigned char scratch[MODEL_SCRATCH_BYTES];
    static int sums[NOUT];
    static cae_qnet q;
    unsigned long crc = 0;
#else
    static float scratch[MODEL_SCRATCH_BYTES / sizeof(float) + 1];
    static cae_net net;
    unsigned long crc = 0;
    cae_tensor tx = cae_tensor_of(x, 1, MODEL_H, MODEL_W, MODEL_C), ty = cae_tensor_of(y, 1, MODEL_OUT_H, MODEL_OUT_W,
                                                                                        MODEL_OUT_C);
#endif
    double worst = 0;
    cae_err e;
    line l;
    int i, j, ok = 1;
    l.n = 0;
#if MODEL_INT8
    if (cae_qnet_init(&q, MODEL_H, MODEL_W, MODEL_C, model_specs, MODEL_NLAYERS, model_wq, MODEL_NWQ, model_iq,
                      MODEL_NIQ, model_sq, MODEL_NSQ, model_fq, MODEL_NFQ, &e)) {
#else
    if (cae_net_init(&net, MODEL_H, MODEL_W, MODEL_C, model_specs, MODEL_NLAYERS, model_params, MODEL_NPARAMS, &e)) {
#endif
        put(&l, "error: "), put(&l, e.msg), say(&l);
        return 0;
    }
    put(&l, MODEL_INT8 ? "convae int8 model, " : "convae float32 model, "), put_uint(&l, MODEL_NLAYERS, 10, 1);
#if MODEL_INT8
    put(&l, " layers, int8 kernels");
#else
    put(&l, " layers, kernels "), put(&l, cae_kernels_name(net.ks));
#endif
    put(&l, ", scratch "), put_uint(&l, MODEL_SCRATCH_BYTES, 10, 1), put(&l, " bytes, model "),
        put_uint(&l, MODEL_MODEL_BYTES, 10, 1), put(&l, " bytes"), say(&l);
    for (i = 0; i < MODEL_NTEST; i++) {
        double mse = 0, d;
        for (j = 0; j < NPIX; j++) x[j] = model_test_images[(long)i * NPIX + j] * (1.0f / 255.0f);
#if MODEL_INT8
        if (cae_qnet_forward(&q, x, y, sums, scratch, sizeof scratch, &e)) {
#else
        if (cae_net_forward(&net, &tx, &ty, scratch, sizeof scratch, &e)) {
#endif
            put(&l, "error: "), put(&l, e.msg), say(&l);
            return 0;
        }
        for (j = 0; j < NOUT; j++) {
            d = (double)y[j] - model_test_expected[(long)i * NOUT + j];
            d = d < 0 ? -d : d;
            if (!(d <= worst)) worst = d; /* NaN too */
            d = (double)y[j] - x[j % NPIX];
            mse += d * d;
        }
        mse /= NOUT;
#if MODEL_INT8
        for (j = 0; j < NOUT; j++) { /* the sums' bytes, little-endian (as the exporting host wrote them) */
            unsigned long u = (unsigned long)(unsigned)sums[j];
            unsigned char le[4];
            le[0] = (unsigned char)(u & 255), le[1] = (unsigned char)(u >> 8 & 255);
            le[2] = (unsigned char)(u >> 16 & 255), le[3] = (unsigned char)(u >> 24 & 255);
            crc = cae_crc32(crc, le, 4);
        }
#else
        crc = cae_crc32(crc, y, sizeof y);
#endif
        put(&l, "image "), put_uint(&l, (unsigned long)i, 10, 1), put(&l, ": MSE "), put_num(&l, mse);
        put(&l, " (exporting host: "), put_num(&l, model_test_mse[i]), put(&l, ")"), say(&l);
    }
#if MODEL_INT8
    put(&l, "checksum "), put_uint(&l, crc, 16, 8), put(&l, " (CRC-32 of the last layer's int32 sums; host ");
    put_uint(&l, MODEL_TEST_SUMS_CRC, 16, 8), put(&l, ")"), say(&l);
    ok = crc == MODEL_TEST_SUMS_CRC;
    put(&l, ok ? "match: the same integers as the host" : "MISMATCH: the int32 sums differ from the host's"), say(&l);
    put(&l, "outputs: max |device - host| "), put_num(&l, worst), put(&l, " (the sigmoid's expf may differ)"), say(&l);
#else
    put(&l, "checksum "), put_uint(&l, crc, 16, 8), put(&l, " (CRC-32 of the outputs' float bytes)"), say(&l);
    ok = worst <= 1e-5;
    put(&l, ok ? "match: " : "MISMATCH: "), put(&l, "max |device - host _ref| "), put_num(&l, worst);
    put(&l, ", tolerance 1e-5"), say(&l);
#endif
    return ok;
}

/* ------------------------------------------------------------------ start-up (Cortex-M) */
extern unsigned long _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

void Reset_Handler(void)
{
    unsigned long *s = &_sidata, *d = &_sdata;
    while (d < &_edata) *d++ = *s++; /* .data from flash */
    for (d = &_sbss; d < &_ebss;) *d++ = 0;
#if defined(__ARM_FP)
    *(volatile unsigned long *)0xE000ED88UL |= 0xFUL << 20; /* CPACR: the FPU on (CP10, CP11) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    semihost(SYS_EXIT, (const void *)(unsigned long)(main() == 0 ? ADP_EXIT_OK : ADP_EXIT_ERROR));
    for (;;) {
    }
}

void Fault_Handler(void)
{
    line l;
    l.n = 0;
    put(&l, "fault: the program stopped"), say(&l);
    semihost(SYS_EXIT, (const void *)(unsigned long)ADP_EXIT_ERROR);
    for (;;) {
    }
}

/* the initial stack pointer, then reset, NMI, HardFault, MemManage, BusFault, UsageFault */
__attribute__((section(".vectors"), used)) static const unsigned long vectors[7] = {
    (unsigned long)&_estack,       (unsigned long)Reset_Handler, (unsigned long)Fault_Handler,
    (unsigned long)Fault_Handler, (unsigned long)Fault_Handler, (unsigned long)Fault_Handler,
    (unsigned long)Fault_Handler};

int main(void)
{
    return run() ? 0 : 1;
}
