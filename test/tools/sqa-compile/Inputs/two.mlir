func.func @mha(%q: tensor<?x16x?x64xf16>, %o: tensor<?x16x?x64xf16>) -> tensor<?x16x?x64xf16> {
  %r = sqa.attention ins(%q, %q, %q : tensor<?x16x?x64xf16>, tensor<?x16x?x64xf16>, tensor<?x16x?x64xf16>)
                     outs(%o : tensor<?x16x?x64xf16>) -> tensor<?x16x?x64xf16>
  return %r : tensor<?x16x?x64xf16>
}
func.func @mqa(%q: tensor<?x16x?x64xf16>, %k: tensor<?x1x?x64xf16>, %o: tensor<?x16x?x64xf16>) -> tensor<?x16x?x64xf16> {
  %r = sqa.attention ins(%q, %k, %k : tensor<?x16x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>)
                     outs(%o : tensor<?x16x?x64xf16>) window = [256, 0] -> tensor<?x16x?x64xf16>
  return %r : tensor<?x16x?x64xf16>
}
