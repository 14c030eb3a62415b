    void *@OPERAND@_data = @TENSOR@->data;
    int64_t @OPERAND@_offset = 0;
    int64_t @OPERAND@_shape[@RANK@], @OPERAND@_strides[@RANK@];
    memcpy(@OPERAND@_shape, @TENSOR@->shape, sizeof(@OPERAND@_shape));
    memcpy(@OPERAND@_strides, @TENSOR@->strides, sizeof(@OPERAND@_strides));
