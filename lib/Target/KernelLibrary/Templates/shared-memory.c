    if ((unsigned)(@SHARED_BYTES@) > 49152u &&
        (status = sqalib_check(sqalib_driver.cuFuncSetAttribute(
             function, sqalib_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
             (int)(@SHARED_BYTES@)))) != sqalib_SUCCESS)
      return status;
