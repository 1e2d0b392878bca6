/* test_threads.c - no hidden shared state: two trainers in two threads of one process at once
   (one on the scalar kernels, one on the CPU's best set, different models, seeds and images)
   end with the same bytes, checkpoints and outputs as the same two run one after the other.

   Build and run from the repository root:
       cc -std=c99 -O2 -fopenmp -I. tests/test_threads.c -o test_threads -lm -lpthread && ./test_threads */
#define CONVAE_IMPLEMENTATION
#include "../convae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <pthread.h>
#endif

#define STEPS 4
#define BATCH 8

typedef struct job {
    const char *kernels; /* kernel set to run on */
    unsigned long long seed;
    int filters;          /* of the first conv: two different models */
    unsigned char *state; /* the trainer's checkpoint after STEPS steps */
    size_t state_len;
    float out[BATCH * 784];
    double loss;
    int rc;
    cae_err err; /* what went wrong, when rc is not CAE_OK */
} job;

static void run_job(job *j)
{
    cae_layer_spec specs[9];
    const cae_layer_spec *lab;
    const cae_kernels *ks;
    cae_trainer *t = NULL;
    cae_net net;
    cae_err e;
    cae_rng r = cae_rng_seed(j->seed);
    float *x = (float *)malloc(sizeof(float) * BATCH * 784);
    void *scratch = NULL;
    size_t bytes = 0;
    int n, i, k;
    lab = cae_lab_specs(&n);
    memcpy(specs, lab, sizeof(cae_layer_spec) * (size_t)n);
    specs[0].filters = j->filters;
    j->rc = x ? cae_kernels_pick(j->kernels, &ks, &e) : CAE_ERR_NOMEM;
    if (!j->rc) j->rc = cae_net_create(&net, 28, 28, 1, specs, n, j->seed, &e);
    if (!j->rc) {
        net.ks = ks;
        j->rc = cae_trainer_create(&t, &net, BATCH, &e);
        cae_net_free(&net);
    }
    if (!j->rc) {
        cae_tensor xt = cae_tensor_of(x, BATCH, 28, 28, 1), yt = cae_tensor_of(j->out, BATCH, 28, 28, 1);
        for (k = 0; k < STEPS && !j->rc; k++) {
            for (i = 0; i < BATCH * 784; i++) x[i] = cae_rng_uniform(&r) < 0.2f ? cae_rng_uniform(&r) : 0.0f;
            j->rc = cae_trainer_step(t, &xt, &xt, CAE_LOSS_BCE, &j->loss, &e);
        }
        bytes = cae_net_scratch_bytes(cae_trainer_net(t));
        scratch = malloc(bytes);
        if (!j->rc) j->rc = scratch ? cae_net_forward(cae_trainer_net(t), &xt, &yt, scratch, bytes, &e) : CAE_ERR_NOMEM;
        j->state_len = cae_trainer_state_bytes(t, 0);
        j->state = (unsigned char *)malloc(j->state_len);
        if (!j->rc) j->rc = j->state ? cae_trainer_write_state(t, NULL, 0, j->state, j->state_len, &e) : CAE_ERR_NOMEM;
    }
    if (j->rc) j->err = e;
    cae_trainer_free(t);
    free(x), free(scratch);
}

#ifdef _WIN32
static DWORD WINAPI thread_main(LPVOID p)
{
    run_job((job *)p);
    return 0;
}
#else
static void *thread_main(void *p)
{
    run_job((job *)p);
    return NULL;
}
#endif

static void init(job *j, const char *kernels, unsigned long long seed, int filters)
{
    memset(j, 0, sizeof *j);
    j->kernels = kernels, j->seed = seed, j->filters = filters;
}

int main(void)
{
    job one[2], both[2];
    int round, k, fails = 0;
    const char *best = cae_kernels_name(cae_kernels_best());
    for (k = 0; k < 2; k++) init(one + k, k ? best : "scalar", 11 + (unsigned long long)k, k ? 32 : 16);
    run_job(one), run_job(one + 1); /* one after the other */
    for (k = 0; k < 2; k++)
        if (one[k].rc) {
            printf("FAIL: job %d alone: %s\n", k, one[k].err.msg);
            return 1;
        }
    for (round = 0; round < 3; round++) {
#ifdef _WIN32
        HANDLE th[2];
#else
        pthread_t th[2];
#endif
        for (k = 0; k < 2; k++) init(both + k, one[k].kernels, one[k].seed, one[k].filters);
        for (k = 0; k < 2; k++) {
#ifdef _WIN32
            th[k] = CreateThread(NULL, 0, thread_main, both + k, 0, NULL);
            if (!th[k]) return printf("FAIL: CreateThread\n"), 1;
#else
            if (pthread_create(th + k, NULL, thread_main, both + k)) return printf("FAIL: pthread_create\n"), 1;
#endif
        }
        for (k = 0; k < 2; k++) {
#ifdef _WIN32
            WaitForSingleObject(th[k], INFINITE);
            CloseHandle(th[k]);
#else
            pthread_join(th[k], NULL);
#endif
        }
        for (k = 0; k < 2; k++) {
            int same = !both[k].rc && both[k].state_len == one[k].state_len &&
                       memcmp(both[k].state, one[k].state, one[k].state_len) == 0 &&
                       memcmp(both[k].out, one[k].out, sizeof one[k].out) == 0 && both[k].loss == one[k].loss;
            if (!same) {
                printf("FAIL: round %d, trainer %d (%s): run beside the other, it differs from running alone (%s)\n",
                       round, k, one[k].kernels, both[k].rc ? both[k].err.msg : "other bytes");
                fails++;
            }
            free(both[k].state);
        }
    }
    printf("test_threads: two trainers (scalar and %s kernels, %d steps of %d images, then a forward pass) in two "
           "threads at once, 3 rounds: %s\n", best, STEPS, BATCH,
           fails ? "DIFFER" : "checkpoint bytes, outputs and losses identical to running them one after the other");
    free(one[0].state), free(one[1].state);
    return fails ? 1 : 0;
}
