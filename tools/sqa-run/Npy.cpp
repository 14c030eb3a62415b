//===- Npy.cpp - Minimal NumPy .npy reader and writer ---------------------===//

#include "Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace npy;

static constexpr char kMagic[] = "\x93NUMPY";

int64_t NpyArray::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

/// The byte size of `shape` x `elementSize`, or nullopt when it overflows
/// int64 (a header can claim any dimensions).
static std::optional<int64_t> getByteSize(llvm::ArrayRef<int64_t> shape,
                                          int64_t elementSize) {
  int64_t size = elementSize;
  for (int64_t dim : shape)
    if (llvm::MulOverflow(size, dim, size))
      return std::nullopt;
  return size;
}

static llvm::Error makeError(llvm::StringRef path, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 path + ": " + message);
}

/// Returns the text after `'key':` in the header dictionary.
static std::optional<llvm::StringRef> findValue(llvm::StringRef header,
                                                llvm::StringRef key) {
  std::string quoted = ("'" + key + "'").str();
  size_t pos = header.find(quoted);
  if (pos == llvm::StringRef::npos)
    return std::nullopt;
  llvm::StringRef rest = header.drop_front(pos + quoted.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  return rest.ltrim();
}

/// Size in bytes of one element of a supported type string.
static int64_t getElementSize(llvm::StringRef descr) {
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|'))
    return 0;
  unsigned size;
  if (descr.drop_front(2).getAsInteger(10, size))
    return 0;
  return size;
}

llvm::Expected<NpyArray> npy::readNpy(llvm::StringRef path) {
  auto bufferOr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (std::error_code ec = bufferOr.getError())
    return makeError(path, "cannot open: " + ec.message());
  llvm::StringRef contents = (*bufferOr)->getBuffer();
  if (!contents.starts_with(llvm::StringRef(kMagic, 6)) || contents.size() < 10)
    return makeError(path, "not a .npy file (bad magic)");
  unsigned major = static_cast<unsigned char>(contents[6]);
  size_t headerLength, headerStart;
  auto byteAt = [&](size_t i) -> size_t {
    return static_cast<unsigned char>(contents[i]);
  };
  if (major == 1) {
    headerLength = byteAt(8) | byteAt(9) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (contents.size() < 12)
      return makeError(path, "truncated header");
    headerLength =
        byteAt(8) | byteAt(9) << 8 | byteAt(10) << 16 | byteAt(11) << 24;
    headerStart = 12;
  } else {
    return makeError(path, "unsupported .npy version " + llvm::Twine(major));
  }
  if (contents.size() < headerStart + headerLength)
    return makeError(path, "truncated header");
  llvm::StringRef header = contents.substr(headerStart, headerLength);

  NpyArray array;
  std::optional<llvm::StringRef> descr = findValue(header, "descr");
  if (!descr || !descr->consume_front("'"))
    return makeError(path, "header has no 'descr'");
  array.descr = descr->take_until([](char c) { return c == '\''; }).str();

  std::optional<llvm::StringRef> order = findValue(header, "fortran_order");
  if (!order)
    return makeError(path, "header has no 'fortran_order'");
  if (order->starts_with("True"))
    return makeError(path, "Fortran-order arrays are not supported; save a "
                           "C-contiguous array");

  std::optional<llvm::StringRef> shape = findValue(header, "shape");
  if (!shape || !shape->consume_front("("))
    return makeError(path, "header has no 'shape'");
  llvm::StringRef dims = shape->take_until([](char c) { return c == ')'; });
  if (dims.size() == shape->size())
    return makeError(path, "the header's shape tuple is not closed");
  llvm::SmallVector<llvm::StringRef> pieces;
  dims.split(pieces, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (llvm::StringRef piece : pieces) {
    piece = piece.trim();
    if (piece.empty())
      continue;
    int64_t dim;
    if (piece.getAsInteger(10, dim) || dim < 0)
      return makeError(path, "bad shape entry '" + piece + "'");
    array.shape.push_back(dim);
  }

  int64_t elementSize = getElementSize(array.descr);
  if (elementSize == 0)
    return makeError(path, "unsupported dtype '" + array.descr +
                               "' (expected a little-endian type such as <f4)");
  std::optional<int64_t> byteSize = getByteSize(array.shape, elementSize);
  if (!byteSize)
    return makeError(path, "shape has more elements than fit in 64 bits");
  int64_t payloadSize = *byteSize;
  llvm::StringRef payload = contents.drop_front(headerStart + headerLength);
  if (static_cast<int64_t>(payload.size()) != payloadSize)
    return makeError(path, "payload has " + llvm::Twine(payload.size()) +
                               " bytes, expected " + llvm::Twine(payloadSize));
  array.data.assign(payload.begin(), payload.end());
  return array;
}

llvm::Error npy::writeNpy(llvm::StringRef path, const NpyArray &array) {
  std::string header =
      "{'descr': '" + array.descr + "', 'fortran_order': False, 'shape': (";
  for (int64_t dim : array.shape)
    header += std::to_string(dim) + ", ";
  if (!array.shape.empty())
    header.resize(header.size() - (array.shape.size() == 1 ? 1 : 2));
  header += "), }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes, and
  // end with a newline, as NumPy does.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError(path, "cannot write: " + ec.message());
  os.write(kMagic, 6);
  os << '\x01' << '\x00';
  os << static_cast<char>(header.size() & 0xff)
     << static_cast<char>((header.size() >> 8) & 0xff);
  os << header;
  os.write(array.data.data(), array.data.size());
  os.close();
  if (std::error_code error = os.error()) {
    // Cleared so that the stream does not abort ("IO failure") when it is
    // destroyed.
    os.clear_error();
    return makeError(path, "cannot write: " + error.message());
  }
  return llvm::Error::success();
}
