
sqalib_status sqalib_@NAME@(@PARAMETERS@sqalib_stream stream) {
  sqalib_status status;
@TENSOR_CHECKS@  if (@SHAPE_MISMATCH@)
    return sqalib_ERROR_SHAPE;
  if (q->shape[0] == 0)
    return sqalib_SUCCESS;
  int overflow = 0;
@LAUNCH_SIZES@  (void)overflow;
  if (overflow)
    return sqalib_ERROR_TOO_LARGE;
@LAUNCHES@  return sqalib_SUCCESS;
}
