/* The OpenMP side of dlp's synchronisation benchmark, measured the way EPCC's syncbench and
 * schedbench measure (Bull, "Measuring synchronisation and scheduling overheads in OpenMP",
 * EWOMP 1999): a test times `reps` repetitions of an operation between delays, and its
 * overhead is that time less the same delays on one thread.
 *
 * Every function returns the elapsed seconds, or a negative number if the result came out
 * wrong. */

#include <omp.h>

static volatile double sink;

/* About `iterations` dependent additions: work that no compiler folds away. */
void epcc_delay(int iterations) {
    double a = 0.0;
    for (int i = 0; i < iterations; i++) {
        a += i;
    }
    if (a < 0.0) {
        sink = a;
    }
}

/* The delays alone, on the calling thread. */
double epcc_reference(int reps, int delay) {
    double start = omp_get_wtime();
    for (int r = 0; r < reps; r++) {
        epcc_delay(delay);
    }
    return omp_get_wtime() - start;
}

double epcc_barrier(int threads, int reps, int delay) {
    double start = omp_get_wtime();
#pragma omp parallel num_threads(threads)
    for (int r = 0; r < reps; r++) {
        epcc_delay(delay);
#pragma omp barrier
    }
    return omp_get_wtime() - start;
}

double epcc_region(int threads, int reps, int delay) {
    double start = omp_get_wtime();
    for (int r = 0; r < reps; r++) {
#pragma omp parallel num_threads(threads)
        epcc_delay(delay);
    }
    return omp_get_wtime() - start;
}

double epcc_reduction(int threads, int reps, int delay) {
    long total = 0;
    double start = omp_get_wtime();
    for (int r = 0; r < reps; r++) {
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            epcc_delay(delay);
            total += 1;
        }
    }
    double elapsed = omp_get_wtime() - start;
    return total == (long)reps * threads ? elapsed : -1.0;
}

double epcc_broadcast(int threads, int reps, int delay) {
    int wrong = 0;
    double start = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : wrong)
    for (int r = 0; r < reps; r++) {
        int value = -1;
        epcc_delay(delay);
#pragma omp single copyprivate(value)
        value = r;
        wrong += value != r;
    }
    double elapsed = omp_get_wtime() - start;
    return wrong == 0 ? elapsed : -1.0;
}

/* Schedules: 0 static, 1 static with a chunk, 2 dynamic, 3 guided. Each has a loop of its own,
 * with its schedule written in the pragma: `schedule(runtime)` would make one loop of them, but
 * would send the static schedules through libgomp's run-time dispatch, which a program that
 * writes `schedule(static)` does not pay. */
double epcc_loop(int threads, int schedule, int chunk, int items, int reps, int delay) {
    long done = 0;
    double start = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : done)
    for (int r = 0; r < reps; r++) {
        switch (schedule) {
        case 0:
#pragma omp for schedule(static)
            for (int i = 0; i < items; i++) {
                epcc_delay(delay);
                done += 1;
            }
            break;
        case 1:
#pragma omp for schedule(static, chunk)
            for (int i = 0; i < items; i++) {
                epcc_delay(delay);
                done += 1;
            }
            break;
        case 2:
#pragma omp for schedule(dynamic, chunk)
            for (int i = 0; i < items; i++) {
                epcc_delay(delay);
                done += 1;
            }
            break;
        default:
#pragma omp for schedule(guided, chunk)
            for (int i = 0; i < items; i++) {
                epcc_delay(delay);
                done += 1;
            }
            break;
        }
    }
    double elapsed = omp_get_wtime() - start;
    return done == (long)items * reps ? elapsed : -1.0;
}
