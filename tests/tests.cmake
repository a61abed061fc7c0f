# Test definitions (included from CMakeLists.txt). Every tests/c/test_*.c is a C test
# executable; every tests/lua/*_spec.lua is a busted spec run by LuaJIT. Adding a file is
# enough: nothing here needs editing.
find_program(BUSTED busted REQUIRED)
find_program(LUAJIT luajit REQUIRED)

file(GLOB LUNET_TESTLIB_SOURCES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/tests/c/testlib.c ${PROJECT_SOURCE_DIR}/tests/c/ref_*.c)
add_library(lunet_testlib STATIC ${LUNET_TESTLIB_SOURCES})
target_include_directories(lunet_testlib PUBLIC ${PROJECT_SOURCE_DIR}/tests/c
  ${PROJECT_SOURCE_DIR}/lib/src)
target_link_libraries(lunet_testlib PUBLIC lunet OpenCL::OpenCL m)

set(LUNET_TEST_ENV
  "LUNET_CACHE_DIR=${PROJECT_BINARY_DIR}/kernel-cache"
  "LUNET_LIB=$<TARGET_FILE:lunet>"
  "LUNET_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp")
# Exists before any test runs, so that each test (ctest -R one) can write there.
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/test-tmp)
# Real MNIST for the tests that train: the shared copy beside the checkout (CI), else the
# one scripts/setup.sh put in data/mnist. Tests that need it say so when it is absent.
if(EXISTS ${PROJECT_SOURCE_DIR}/../shared/data/mnist)
  set(LUNET_TEST_MNIST ${PROJECT_SOURCE_DIR}/../shared/data/mnist)
elseif(EXISTS ${PROJECT_SOURCE_DIR}/data/mnist)
  set(LUNET_TEST_MNIST ${PROJECT_SOURCE_DIR}/data/mnist)
endif()
if(LUNET_TEST_MNIST)
  list(APPEND LUNET_TEST_ENV "LUNET_MNIST_DIR=${LUNET_TEST_MNIST}")
endif()

if(LUNET_SANITIZE)
  # LuaJIT is not built with ASan, so the runtime must be loaded first for liblunet.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE LUNET_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
  # Leak checking is off for the Lua specs only: LuaJIT and the PoCL/LLVM runtime keep
  # allocations alive until exit by design. The C tests run with leak checking on,
  # with tests/lsan.supp naming the OpenCL runtime libraries it must not blame us for.
  set(LUNET_LUA_SAN_ENV "LD_PRELOAD=${LUNET_LIBASAN}" "ASAN_OPTIONS=detect_leaks=0"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  set(LUNET_C_SAN_ENV "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()

file(GLOB LUNET_C_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/c/test_*.c)
foreach(src ${LUNET_C_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE lunet_testlib)
  add_test(NAME c_${name} COMMAND ${name})
  set_tests_properties(c_${name} PROPERTIES ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_C_SAN_ENV}"
    TIMEOUT 600)
endforeach()

file(GLOB LUNET_LUA_SPECS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/lua/*_spec.lua)
foreach(spec ${LUNET_LUA_SPECS})
  get_filename_component(name ${spec} NAME_WE)
  add_test(NAME lua_${name}
    COMMAND ${BUSTED} --lua=${LUAJIT} --helper=${PROJECT_SOURCE_DIR}/tests/lua/helper.lua
            -o TAP ${spec}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(lua_${name} PROPERTIES
    ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}" TIMEOUT 600)
endforeach()

# The flagship script runs from another working directory (it finds the library and the
# Lua modules itself), and --help and a bad option behave.
if(LUNET_TEST_MNIST)
  add_test(NAME script_train_lenet_smoke
    COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/train_lenet.lua --data ${LUNET_TEST_MNIST}
            --limit 6000 --epochs 2 --out ${PROJECT_BINARY_DIR}/test-tmp/lenet-smoke
    WORKING_DIRECTORY /tmp)
  set_tests_properties(script_train_lenet_smoke PROPERTIES
    ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}" TIMEOUT 600
    PASS_REGULAR_EXPRESSION "epoch  2  train loss [0-9.]+  train acc +[0-9.]+%  test acc +9[0-9]\\.[0-9]+%")
else()
  message(STATUS "MNIST not found (../shared/data/mnist or data/mnist): the training smoke test is left out")
endif()
add_test(NAME script_train_lenet_help
  COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/train_lenet.lua --help)
set_tests_properties(script_train_lenet_help PROPERTIES PASS_REGULAR_EXPRESSION "--epochs.*--optimizer")
add_test(NAME script_train_lenet_bad_option
  COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/train_lenet.lua --epochs banana)
set_tests_properties(script_train_lenet_bad_option PROPERTIES
  PASS_REGULAR_EXPRESSION "--epochs expects a number, got .banana.")
set_tests_properties(script_train_lenet_help script_train_lenet_bad_option
  PROPERTIES ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}")

# cmake --install puts the library, header, Lua modules and pkg-config file in place, and
# the installed Lua modules load the installed library.
add_test(NAME install_tree
  COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DPREFIX=${PROJECT_BINARY_DIR}/install-test
          -DLUAJIT=${LUAJIT} -P ${PROJECT_SOURCE_DIR}/tests/install_test.cmake)
set_tests_properties(install_tree PROPERTIES ENVIRONMENT
  "LUNET_CACHE_DIR=${PROJECT_BINARY_DIR}/kernel-cache;${LUNET_LUA_SAN_ENV}")
include(${PROJECT_SOURCE_DIR}/tests/scripts.cmake)
include(${PROJECT_SOURCE_DIR}/tests/torch.cmake)
include(${PROJECT_SOURCE_DIR}/tests/zoo.cmake)
include(${PROJECT_SOURCE_DIR}/tests/scripts2.cmake)
include(${PROJECT_SOURCE_DIR}/bench/bench_tests.cmake)
