/* error.c — the last-error slot (the library's only mutable global, one per thread) and
 * the names of statuses and OpenCL error codes. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char last_error[4096];

const char *lunet_last_error(void) { return last_error; }

void lunet__clear_error(void) { last_error[0] = '\0'; }

lunet_status lunet__fail(lunet_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

const char *lunet_version(void) { return LUNET_VERSION_STRING; }

const char *lunet_status_name(lunet_status status) {
    switch (status) {
    case LUNET_OK: return "LUNET_OK";
    case LUNET_ERR_ARGUMENT: return "LUNET_ERR_ARGUMENT";
    case LUNET_ERR_SHAPE: return "LUNET_ERR_SHAPE";
    case LUNET_ERR_OPENCL: return "LUNET_ERR_OPENCL";
    case LUNET_ERR_NO_DEVICE: return "LUNET_ERR_NO_DEVICE";
    case LUNET_ERR_BUILD: return "LUNET_ERR_BUILD";
    case LUNET_ERR_MEMORY: return "LUNET_ERR_MEMORY";
    case LUNET_ERR_IO: return "LUNET_ERR_IO";
    case LUNET_ERR_FORMAT: return "LUNET_ERR_FORMAT";
    }
    return "LUNET_ERR_UNKNOWN";
}

const char *lunet__cl_error_name(cl_int err) {
    switch (err) {
#define NAME(code) case code: return #code
    NAME(CL_SUCCESS);
    NAME(CL_DEVICE_NOT_FOUND);
    NAME(CL_DEVICE_NOT_AVAILABLE);
    NAME(CL_COMPILER_NOT_AVAILABLE);
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    NAME(CL_OUT_OF_RESOURCES);
    NAME(CL_OUT_OF_HOST_MEMORY);
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE);
    NAME(CL_MEM_COPY_OVERLAP);
    NAME(CL_IMAGE_FORMAT_MISMATCH);
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    NAME(CL_BUILD_PROGRAM_FAILURE);
    NAME(CL_MAP_FAILURE);
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    NAME(CL_COMPILE_PROGRAM_FAILURE);
    NAME(CL_LINKER_NOT_AVAILABLE);
    NAME(CL_LINK_PROGRAM_FAILURE);
    NAME(CL_INVALID_VALUE);
    NAME(CL_INVALID_DEVICE_TYPE);
    NAME(CL_INVALID_PLATFORM);
    NAME(CL_INVALID_DEVICE);
    NAME(CL_INVALID_CONTEXT);
    NAME(CL_INVALID_QUEUE_PROPERTIES);
    NAME(CL_INVALID_COMMAND_QUEUE);
    NAME(CL_INVALID_HOST_PTR);
    NAME(CL_INVALID_MEM_OBJECT);
    NAME(CL_INVALID_BINARY);
    NAME(CL_INVALID_BUILD_OPTIONS);
    NAME(CL_INVALID_PROGRAM);
    NAME(CL_INVALID_PROGRAM_EXECUTABLE);
    NAME(CL_INVALID_KERNEL_NAME);
    NAME(CL_INVALID_KERNEL_DEFINITION);
    NAME(CL_INVALID_KERNEL);
    NAME(CL_INVALID_ARG_INDEX);
    NAME(CL_INVALID_ARG_VALUE);
    NAME(CL_INVALID_ARG_SIZE);
    NAME(CL_INVALID_KERNEL_ARGS);
    NAME(CL_INVALID_WORK_DIMENSION);
    NAME(CL_INVALID_WORK_GROUP_SIZE);
    NAME(CL_INVALID_WORK_ITEM_SIZE);
    NAME(CL_INVALID_GLOBAL_OFFSET);
    NAME(CL_INVALID_EVENT_WAIT_LIST);
    NAME(CL_INVALID_EVENT);
    NAME(CL_INVALID_OPERATION);
    NAME(CL_INVALID_BUFFER_SIZE);
    NAME(CL_INVALID_GLOBAL_WORK_SIZE);
    NAME(CL_INVALID_PROPERTY);
#undef NAME
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "CL_UNKNOWN_ERROR";
}

lunet_status lunet__cl_fail(cl_int err, const char *call) {
    lunet_status status = LUNET_ERR_OPENCL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY)
        status = LUNET_ERR_MEMORY;
    return lunet__fail(status, "OpenCL error %s (%d) in %s", lunet__cl_error_name(err), (int)err,
                       call);
}
