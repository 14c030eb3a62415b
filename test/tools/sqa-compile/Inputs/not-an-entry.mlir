// A function that does more than return one sqa.attention: not a library
// kernel (the library's ABI passes only the attention's tensors).
func.func @scaled(%q: tensor<?x4x?x16xf16>, %o: tensor<?x4x?x16xf16>) -> tensor<?x4x?x16xf16> {
  %r = sqa.attention ins(%q, %q, %q : tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>)
                     outs(%o : tensor<?x4x?x16xf16>) -> tensor<?x4x?x16xf16>
  %s = arith.addf %r, %r : tensor<?x4x?x16xf16>
  return %s : tensor<?x4x?x16xf16>
}
