# ctest entries for scripts/predict.lua and scripts/evaluate.lua (included at the end of
# tests/tests.cmake, after the busted specs and LUNET_TEST_MNIST are defined).
#
# The specs tests/lua/predict_spec.lua and evaluate_spec.lua run the scripts with the same
# LuaJIT, and train a small model on MNIST when it is found (LUNET_TEST_MNIST); without it
# their MNIST tests are pending and say why.
set(LUNET_SCRIPT_SPEC_ENV "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV};LUNET_TEST_LUAJIT=${LUAJIT}")
if(LUNET_TEST_MNIST)
  list(APPEND LUNET_SCRIPT_SPEC_ENV "LUNET_TEST_MNIST=${LUNET_TEST_MNIST}")
endif()
foreach(name predict evaluate)
  if(TEST lua_${name}_spec)
    set_tests_properties(lua_${name}_spec PROPERTIES ENVIRONMENT "${LUNET_SCRIPT_SPEC_ENV}")
  endif()
  add_test(NAME script_${name}_help
    COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/${name}.lua --help WORKING_DIRECTORY /tmp)
  set_tests_properties(script_${name}_help PROPERTIES
    ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}")
endforeach()
set_tests_properties(script_predict_help PROPERTIES PASS_REGULAR_EXPRESSION "--model FILE.*--top K.*--device")
set_tests_properties(script_evaluate_help PROPERTIES
  PASS_REGULAR_EXPRESSION "--model FILE.*--data DIR.*--dataset.*--batch-size.*--device.*--confusion PNG")
