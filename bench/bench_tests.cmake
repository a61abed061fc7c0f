# ctest entries for the benchmark harness (included from tests/tests.cmake). The full
# benchmark never runs in CI: only `bench/bench.lua --quick` (lunet only, under a minute
# with warm kernel caches), --help, and the bad-argument messages of bench.lua and its worker.
set(LUNET_BENCH ${PROJECT_SOURCE_DIR}/bench/bench.lua)
set(LUNET_BENCH_WORKER ${PROJECT_SOURCE_DIR}/bench/lunet_worker.lua)

# Under the sanitizers the library needs libasan preloaded, which the Python children of
# the benchmark must not inherit: the smoke run is for the plain build only.
if(LUNET_TEST_MNIST AND NOT LUNET_SANITIZE)
  add_test(NAME bench_quick
    COMMAND ${LUAJIT} ${LUNET_BENCH} --quick --data ${LUNET_TEST_MNIST}
            --out ${PROJECT_BINARY_DIR}/test-tmp/bench-quick.md
    WORKING_DIRECTORY /tmp)
  set_tests_properties(bench_quick PROPERTIES ENVIRONMENT "${LUNET_TEST_ENV}" TIMEOUT 300
    PASS_REGULAR_EXPRESSION
    "\\| 16 \\| [0-9]+ \\|\n\\| 64 \\| [0-9]+ \\|\n\\| 256 \\| [0-9]+ \\|.*\\| 1000 \\| [0-9]+ \\(median [0-9]+\\).*numpy `a @ b` (\\(median of 1\\) \\| [0-9.]+ \\| [0-9.]+ \\| \\*\\*[0-9.]+\\*\\*|\\| not installed for ).*OpenBLAS `cblas_sgemm`.*\\| conv2_bwd_weight \\| x\\[64,6,14,14\\]\\*w\\[16,6,5,5\\] \\| [0-9.]+ \\| [0-9.]+ \\|.*\\| sgd_step_lenet5 \\| 61706_params_in_10_tensors \\|.*\\| warm \\(1 run\\) \\| \\*\\*[0-9.]+\\*\\* \\|.*wrote ${PROJECT_BINARY_DIR}/test-tmp/bench-quick.md")
endif()

add_test(NAME bench_help COMMAND ${LUAJIT} ${LUNET_BENCH} --help)
set_tests_properties(bench_help PROPERTIES PASS_REGULAR_EXPRESSION
  "usage: luajit bench/bench.lua.*--quick.*--start-only.*--data DIR.*--out FILE.*--no-torch.*--torch-blas WHICH .*default.*reference.*both.*--omp-wait-policy")
add_test(NAME bench_openblas_help COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/bench/openblas_sgemm.py --help)
set_tests_properties(bench_openblas_help PROPERTIES PASS_REGULAR_EXPRESSION "--threads.*--torch-blas")
# --torch-blas: a bad value is refused with exit status 2, before anything runs
add_test(NAME bench_bad_torch_blas COMMAND sh -c "${LUAJIT} ${LUNET_BENCH} --torch-blas fast; echo exit=$?")
set_tests_properties(bench_bad_torch_blas PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "--torch-blas must be one of default, reference, both, got 'fast'.*exit=2")
# bench/torch_blas.py: --help, and the reference BLAS really forced by LD_LIBRARY_PATH (in
# the dynamic linker's bindings of libtorch_cpu), or torch absent and said so
add_test(NAME bench_torch_blas_help COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/bench/torch_blas.py --help)
set_tests_properties(bench_torch_blas_help PROPERTIES PASS_REGULAR_EXPRESSION "--no-ld-debug")
if(EXISTS /usr/lib/x86_64-linux-gnu/blas/libblas.so.3)
  add_test(NAME bench_torch_blas_reference COMMAND sh -c
    "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas /usr/bin/python3 ${PROJECT_SOURCE_DIR}/bench/torch_blas.py")
  set_tests_properties(bench_torch_blas_reference PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION
    "RESULT kind=torch_blas blas=(reference sgemm_lib=/usr/lib/x86_64-linux-gnu/blas/libblas[.]so[.0-9]* blas_symbols=[1-9][0-9]* other_symbols=0 method=ld_debug|absent)")
endif()
add_test(NAME bench_worker_help COMMAND ${LUAJIT} ${LUNET_BENCH_WORKER} --help)
set_tests_properties(bench_worker_help PROPERTIES PASS_REGULAR_EXPRESSION
  "MODE: train, infer, ops, first-batch, memory.*--batches")

# name | arguments (separated by spaces) | the message expected
set(LUNET_BENCH_BAD
  "bench_bad_reps|--reps 0|bench: --reps must be a positive integer"
  "bench_bad_number|--images many|--images expects a number, got 'many'"
  "bench_bad_batches|--batches 16,x|bench: --batches expects positive integers separated by commas, got '16,x'"
  "bench_bad_policy|--omp-wait-policy spin|--omp-wait-policy must be one of passive, active, default, got 'spin'"
  "bench_no_data|--data /nonexistent/mnist|bench: MNIST not found in /nonexistent/mnist \\(looked for train-images-idx3-ubyte\\[.gz\\]\\): pass --data DIR or set LUNET_MNIST_DIR"
  "bench_unknown_option|--fast|unknown option --fast \\(see --help\\)"
  "bench_positional|quick|bench: unexpected argument 'quick' \\(options start with --, see --help\\)"
  "bench_quick_and_start_only|--quick --start-only|bench: --quick and --start-only exclude each other"
  "bench_torch_blas_accepted|--torch-blas reference --data /nonexistent/mnist|bench: MNIST not found in /nonexistent/mnist")
if(LUNET_TEST_MNIST)
  list(APPEND LUNET_BENCH_BAD
    "bench_no_torch_script|--data ${LUNET_TEST_MNIST} --torch-script /nonexistent/t.py|bench: the PyTorch reference /nonexistent/t.py does not exist \\(pass --torch-script PATH, or --no-torch\\)")
endif()
foreach(entry IN LISTS LUNET_BENCH_BAD)
  string(FIND "${entry}" "|" first)
  string(FIND "${entry}" "|" last REVERSE)
  string(SUBSTRING "${entry}" 0 ${first} name)
  math(EXPR args_begin "${first} + 1")
  math(EXPR args_len "${last} - ${first} - 1")
  math(EXPR msg_begin "${last} + 1")
  string(SUBSTRING "${entry}" ${args_begin} ${args_len} args)
  string(SUBSTRING "${entry}" ${msg_begin} -1 message)
  separate_arguments(args UNIX_COMMAND "${args}")
  add_test(NAME ${name} COMMAND ${LUAJIT} ${LUNET_BENCH} ${args})
  # every one of them must fail fast, before measuring anything
  set_tests_properties(${name} PROPERTIES PASS_REGULAR_EXPRESSION "${message}" TIMEOUT 20)
endforeach()

add_test(NAME bench_worker_bad_mode COMMAND ${LUAJIT} ${LUNET_BENCH_WORKER} fly)
set_tests_properties(bench_worker_bad_mode PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "lunet_worker: expected a mode \\(train, infer, ops, first-batch or memory\\), got fly")
add_test(NAME bench_worker_bad_steps COMMAND ${LUAJIT} ${LUNET_BENCH_WORKER} train --steps 0)
set_tests_properties(bench_worker_bad_steps PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "lunet_worker: --steps must be a positive integer")
add_test(NAME bench_worker_no_data COMMAND ${LUAJIT} ${LUNET_BENCH_WORKER} infer --data /nonexistent/mnist)
set_tests_properties(bench_worker_no_data PROPERTIES ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}" TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "lunet_worker: MNIST not found in /nonexistent/mnist")
add_test(NAME bench_worker_extra_argument COMMAND ${LUAJIT} ${LUNET_BENCH_WORKER} train 64)
set_tests_properties(bench_worker_extra_argument PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "lunet_worker: one mode expected, got a second argument '64'")

# bench/pool_act_bench.lua: --help, a bad option, and a tiny run against itself (both
# "libraries" the same build) whose random-geometry sweep must find no difference.
set(LUNET_POOL_BENCH ${PROJECT_SOURCE_DIR}/bench/pool_act_bench.lua)
add_test(NAME pool_bench_help COMMAND ${LUAJIT} ${LUNET_POOL_BENCH} --help)
set_tests_properties(pool_bench_help PROPERTIES PASS_REGULAR_EXPRESSION
  "usage: luajit bench/pool_act_bench.lua.*--base PATH.*--sweep N")
add_test(NAME pool_bench_bad_option COMMAND ${LUAJIT} ${LUNET_POOL_BENCH} --fast)
set_tests_properties(pool_bench_bad_option PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "pool_act_bench: unknown option --fast \\(see --help\\)")
if(NOT LUNET_SANITIZE)
  add_test(NAME pool_bench_smoke COMMAND ${LUAJIT} ${LUNET_POOL_BENCH} --lib $<TARGET_FILE:lunet>
           --base $<TARGET_FILE:lunet> --reps 1 --seconds 0.002 --only maxpool2 --sweep 20)
  set_tests_properties(pool_bench_smoke PROPERTIES ENVIRONMENT "${LUNET_TEST_ENV}" TIMEOUT 120
    PASS_REGULAR_EXPRESSION "maxpool2_fwd .* us .* GB/s .*identical.*sweep: 20 random geometries, 0 differences")
endif()

# bench/gpu_session.sh (building, benchmarking and testing on a bare GPU machine from a kit
# of .deb files): --help and its refusals; the run itself needs a GPU machine.
set(LUNET_GPU_SESSION ${PROJECT_SOURCE_DIR}/bench/gpu_session.sh)
add_test(NAME gpu_session_help COMMAND bash ${LUNET_GPU_SESSION} --help)
set_tests_properties(gpu_session_help PROPERTIES PASS_REGULAR_EXPRESSION
  "--make-kit \\[KIT\\].*debs/.*cairo-debs/.*mnist/.*torch_lenet.py.*STEPS.*LUNET_DEVICE.*ICD_LIB")
add_test(NAME gpu_session_no_kit COMMAND sh -c "bash ${LUNET_GPU_SESSION} /nonexistent/kit; echo exit=$?")
set_tests_properties(gpu_session_no_kit PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "gpu_session: no kit at /nonexistent/kit \\(see --help\\).*exit=2")
add_test(NAME gpu_session_bad_option COMMAND sh -c "bash ${LUNET_GPU_SESSION} --fast; echo exit=$?")
set_tests_properties(gpu_session_bad_option PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "gpu_session: unknown option '--fast' \\(see --help\\).*exit=2")

# bench/torch_cuda.py (PyTorch's LeNet-5 on a CUDA GPU): --help without torch, its
# refusals, and a tiny run on the CPU (--device cpu) where torch and the reference exist.
set(LUNET_TORCH_CUDA ${PROJECT_SOURCE_DIR}/bench/torch_cuda.py)
set(LUNET_TORCH_REFERENCE ${PROJECT_SOURCE_DIR}/../shared/reference/torch_lenet.py)
add_test(NAME torch_cuda_help COMMAND /usr/bin/python3 ${LUNET_TORCH_CUDA} --help)
set_tests_properties(torch_cuda_help PROPERTIES PASS_REGULAR_EXPRESSION
  "--torch-script.*--data.*--device.*--batches.*--images.*--reps")
add_test(NAME torch_cuda_bad_batches COMMAND sh -c
  "/usr/bin/python3 ${LUNET_TORCH_CUDA} --torch-script x --data y --batches 16,0; echo exit=$?")
set_tests_properties(torch_cuda_bad_batches PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "expected positive integers separated by commas, got '16,0'.*exit=2")
add_test(NAME torch_cuda_no_script COMMAND sh -c
  "/usr/bin/python3 ${LUNET_TORCH_CUDA} --torch-script /nonexistent/t.py --data y; echo exit=$?")
set_tests_properties(torch_cuda_no_script PROPERTIES TIMEOUT 20 PASS_REGULAR_EXPRESSION
  "torch_cuda.py: the reference script /nonexistent/t.py does not exist.*exit=1")
if(LUNET_TEST_MNIST AND EXISTS ${LUNET_TORCH_REFERENCE})
  add_test(NAME torch_cuda_cpu_smoke COMMAND /usr/bin/python3 ${LUNET_TORCH_CUDA} --device cpu
           --torch-script ${LUNET_TORCH_REFERENCE} --data ${LUNET_TEST_MNIST} --images 64 --reps 1 --batches 16)
  set_tests_properties(torch_cuda_cpu_smoke PROPERTIES TIMEOUT 120 PASS_REGULAR_EXPRESSION
    "INFO torch=.* device=cpu tf32=off.*RESULT kind=train batch=16 img_per_s=[1-9][0-9]*.*RESULT kind=infer batch=1000 img_per_s=[1-9][0-9]*.*RESULT kind=sgemm n=1024 gflops=[0-9.]+")
endif()
