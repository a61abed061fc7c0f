-- busted helper (--helper): lets the specs require lunet from the checkout and the
-- shared test utilities from tests/lua.
package.path = "lua/?.lua;lua/?/init.lua;tests/lua/?.lua;" .. package.path
