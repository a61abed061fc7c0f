# Turns the part of lunet.h between LUNET_API_BEGIN and LUNET_API_END into a Lua file
# returning the ffi.cdef string (Torch's THNN did the same): lunet.h stays the only copy.
file(READ ${HEADER} text)
string(FIND "${text}" "/* LUNET_API_BEGIN */" begin)
string(FIND "${text}" "/* LUNET_API_END */" end)
if(begin EQUAL -1 OR end EQUAL -1)
  message(FATAL_ERROR "lunet.h lacks the LUNET_API_BEGIN/END markers")
endif()
math(EXPR len "${end} - ${begin}")
string(SUBSTRING "${text}" ${begin} ${len} api)
# drop comments: /* ... */ (non-greedy by excluding '*/' runs) and preprocessor lines
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" api "${api}")
string(REGEX REPLACE "\n#[^\n]*" "\n" api "${api}")
string(REGEX REPLACE "__attribute__\\(\\([^)]*\\)\\)" "" api "${api}")
string(REGEX REPLACE "\n[ \t]*\n([ \t]*\n)+" "\n\n" api "${api}")
file(WRITE ${OUTPUT}.tmp "-- Generated from lunet.h by cmake/gen_cdef.cmake: do not edit.\nreturn [==[\n${api}\n]==]\n")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
