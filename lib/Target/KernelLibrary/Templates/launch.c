  if (@GRID_X@ > 0) {
    if (@GRID_X@ > INT64_C(2147483647) || @GRID_Y@ < 1 || @GRID_Y@ > 65535 ||
        @GRID_Z@ < 1 || @GRID_Z@ > 65535)
      return sqalib_ERROR_TOO_LARGE;
    sqalib_CUfunction function;
    if ((status = sqalib_get_function(@IMAGE@, &function)) != sqalib_SUCCESS)
      return status;
@OPERANDS@    void *params[] = {
        @PARAMS@};
@SHARED_MEMORY_OPT_IN@    if ((status = sqalib_check(sqalib_driver.cuLaunchKernel(
             function, (unsigned)@GRID_X@, (unsigned)@GRID_Y@, (unsigned)@GRID_Z@,
             (unsigned)@BLOCK_X@, (unsigned)@BLOCK_Y@, (unsigned)@BLOCK_Z@, (unsigned)@SHARED_BYTES@, stream,
             params, NULL))) != sqalib_SUCCESS)
      return status;
  }
