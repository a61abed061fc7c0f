# Installs into PREFIX and checks what a user of the installed lunet needs.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed")
endif()
include(GNUInstallDirs)
foreach(f ${CMAKE_INSTALL_LIBDIR}/liblunet.so include/lunet.h share/lua/5.1/lunet/init.lua
          share/lua/5.1/lunet/cdef.lua share/lua/5.1/lunet/nn/conv.lua
          ${CMAKE_INSTALL_LIBDIR}/pkgconfig/lunet.pc)
  if(NOT EXISTS ${PREFIX}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# The installed modules, with no checkout and no LUNET_LIB, find the installed library.
set(ENV{LUNET_LIB} "")
set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${CMAKE_INSTALL_LIBDIR}")
set(ENV{LUA_PATH} "${PREFIX}/share/lua/5.1/?.lua;${PREFIX}/share/lua/5.1/?/init.lua;;")
execute_process(COMMAND ${LUAJIT} -e
  "local l = require('lunet'); local nn = require('lunet.nn'); assert(l.library_path:find('system'), l.library_path); local y = nn.Linear(2, 3):forward(l.zeros({1, 2})); io.write('installed lunet ok ', #y:totable())"
  WORKING_DIRECTORY ${PREFIX} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "installed lunet ok 3")
  message(FATAL_ERROR "installed Lua modules failed: ${out} ${err}")
endif()
message(STATUS "${out}")
