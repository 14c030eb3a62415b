// The attention of the SQA paper's xSQA layer (arXiv 2510.01817): a dense
// model with d_model = 256 and a 16-head baseline (head dim 16), of which
// xSQA keeps Hq = 4 query heads and Hkv = 4 key/value heads: a quarter of
// the baseline's attention FLOPs. bf16, causal; batch and sequence length
// are dynamic, so one kernel serves every length.
func.func @xsqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>,
                %v: tensor<?x4x?x16xbf16>, %out: tensor<?x4x?x16xbf16>)
    -> tensor<?x4x?x16xbf16> {
  %o = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xbf16>,
                                      tensor<?x4x?x16xbf16>,
                                      tensor<?x4x?x16xbf16>)
                     outs(%out : tensor<?x4x?x16xbf16>)
                     mask = causal_bottom_right -> tensor<?x4x?x16xbf16>
  return %o : tensor<?x4x?x16xbf16>
}
