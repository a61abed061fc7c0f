# ctest entries for the model zoo (lua/lunet/models.lua: LeNet-5, AlexNet, VGG-16),
# scripts/summary.lua and scripts/torchvision_to_safetensors.py. Included at the end of
# tests/tests.cmake, after the busted specs are defined.
#
# tests/lua/models_spec.lua (lua_models_spec) runs the scripts with the same LuaJIT and, when
# PyTorch is importable ($LUNET_TEST_PYTHON, default /usr/bin/python3 with python3-torch),
# converts PyTorch checkpoints (the reference LeNet5 of ../shared/reference/torch_lenet.py,
# torchvision's AlexNet restated) and checks that lunet loads them and gives PyTorch's
# outputs; without PyTorch those tests are pending and say why. Python never gets the
# sanitizer's LD_PRELOAD. VGG-16 is built and summarised, never run forward (seconds on PoCL).
set(LUNET_ZOO_ENV "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV};LUNET_TEST_LUAJIT=${LUAJIT}")
if(EXISTS ${PROJECT_SOURCE_DIR}/../shared/reference/torch_lenet.py)
  list(APPEND LUNET_ZOO_ENV "LUNET_TEST_REFERENCE=${PROJECT_SOURCE_DIR}/../shared/reference")
endif()
if(TEST lua_models_spec)
  set_tests_properties(lua_models_spec PROPERTIES ENVIRONMENT "${LUNET_ZOO_ENV}")
endif()

# The script from another working directory: --help, the course's LeNet-5 counts, a forward
# pass of AlexNet with time and memory, and an unknown model.
add_test(NAME script_summary_help
  COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/summary.lua --help WORKING_DIRECTORY /tmp)
set_tests_properties(script_summary_help PROPERTIES
  PASS_REGULAR_EXPRESSION "lenet5\\|alexnet\\|vgg16.*--num-classes N.*--input-size S.*--forward.*--device")
add_test(NAME script_summary_lenet5
  COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/summary.lua lenet5 WORKING_DIRECTORY /tmp)
set_tests_properties(script_summary_lenet5 PROPERTIES
  PASS_REGULAR_EXPRESSION "conv1 +Conv2d\\(1, 6, 5x5, stride 1, pad 2\\) +6x28x28 +156 +117,600.*total +61,706 +416,520")
add_test(NAME script_summary_alexnet_forward
  COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/summary.lua alexnet --forward WORKING_DIRECTORY /tmp)
set_tests_properties(script_summary_alexnet_forward PROPERTIES
  PASS_REGULAR_EXPRESSION "total +61,100,840 +714,188,480.*forward of one 3x224x224 image on .*: [0-9.]+ ms .*device memory, weights \\+ activations: .*host peak RSS \\(VmHWM\\): [0-9.]+ MiB")
add_test(NAME script_summary_unknown_model
  COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/summary.lua resnet WORKING_DIRECTORY /tmp)
set_tests_properties(script_summary_unknown_model PROPERTIES
  PASS_REGULAR_EXPRESSION "unknown model 'resnet': expected one of lenet5, alexnet, vgg16")
set_tests_properties(script_summary_help script_summary_lenet5 script_summary_alexnet_forward
  script_summary_unknown_model PROPERTIES ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}" TIMEOUT 600)
