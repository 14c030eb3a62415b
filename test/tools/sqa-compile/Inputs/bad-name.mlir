// An attention entry whose name is not a C identifier.
func.func @"my-kernel"(%q: tensor<?x4x?x16xf16>, %k: tensor<?x4x?x16xf16>, %v: tensor<?x4x?x16xf16>,
                       %o: tensor<?x4x?x16xf16>) -> tensor<?x4x?x16xf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>)
                     outs(%o : tensor<?x4x?x16xf16>) -> tensor<?x4x?x16xf16>
  return %r : tensor<?x4x?x16xf16>
}
