  static const int64_t @TENSOR@_sizes[] = {@SIZES@};
  if ((status = sqalib_check_tensor(@TENSOR@, @RANK@, @TENSOR@_sizes, @ELEMENT_SIZE@, @ALIGNMENT@)) != sqalib_SUCCESS)
    return status;
