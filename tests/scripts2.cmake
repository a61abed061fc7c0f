# ctest entries for scripts/edge_detect.lua and scripts/train_conv1d.lua (included at the
# end of tests/tests.cmake, after the busted specs and LUNET_TEST_ENV are defined).
#
# The specs tests/lua/edge_spec.lua and conv1d_script_spec.lua run the scripts with the same
# LuaJIT (LUNET_TEST_LUAJIT); the MNIST-as-sequences run needs LUNET_MNIST_DIR, which
# LUNET_TEST_ENV sets when MNIST is found, and is pending otherwise.
set(LUNET_SCRIPT2_SPEC_ENV "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV};LUNET_TEST_LUAJIT=${LUAJIT}")
foreach(spec edge_spec conv1d_script_spec)
  if(TEST lua_${spec})
    set_tests_properties(lua_${spec} PROPERTIES ENVIRONMENT "${LUNET_SCRIPT2_SPEC_ENV}")
  endif()
endforeach()
foreach(name edge_detect train_conv1d)
  add_test(NAME script_${name}_help
    COMMAND ${LUAJIT} ${PROJECT_SOURCE_DIR}/scripts/${name}.lua --help WORKING_DIRECTORY /tmp)
  set_tests_properties(script_${name}_help PROPERTIES
    ENVIRONMENT "${LUNET_TEST_ENV};${LUNET_LUA_SAN_ENV}")
endforeach()
set_tests_properties(script_edge_detect_help PROPERTIES
  PASS_REGULAR_EXPRESSION "--filter ROWS.*--padding MODE.*--out PREFIX.*--device")
set_tests_properties(script_train_conv1d_help PROPERTIES
  PASS_REGULAR_EXPRESSION "--task STRING.*--epochs.*--limit N.*--seed.*--out DIR.*--device")
