//===- Npy.cpp - Minimal NumPy .npy reader and writer ---------------------===//

#include "Npy.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace npy;

static constexpr char kMagic[] = "\x93NUMPY";

static int64_t countElements(llvm::ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

int64_t NpyHeader::getNumElements() const { return countElements(shape); }
int64_t NpyArray::getNumElements() const { return countElements(shape); }

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

/// The longest header read: NumPy writes a few hundred bytes and its
/// reader refuses more than 10000 by default; versions 2 and 3 could claim
/// 4 GiB.
static constexpr size_t kMaxHeaderLength = 1 << 20;

llvm::Expected<NpyHeader> npy::readNpyHeader(llvm::StringRef path) {
  uint64_t fileSize = 0;
  if (std::error_code ec = llvm::sys::fs::file_size(path, fileSize))
    return makeError(path, "cannot open: " + ec.message());
  // The fixed prefix: magic, version, header length (2 or 4 bytes).
  auto prefixOr = llvm::MemoryBuffer::getFileSlice(
      path, std::min<uint64_t>(fileSize, 12), /*Offset=*/0);
  if (std::error_code ec = prefixOr.getError())
    return makeError(path, "cannot open: " + ec.message());
  llvm::StringRef prefix = (*prefixOr)->getBuffer();
  if (!prefix.starts_with(llvm::StringRef(kMagic, 6)) || prefix.size() < 10)
    return makeError(path, "not a .npy file (bad magic)");
  unsigned major = static_cast<unsigned char>(prefix[6]);
  size_t headerLength, headerStart;
  auto byteAt = [&](size_t i) -> size_t {
    return static_cast<unsigned char>(prefix[i]);
  };
  if (major == 1) {
    headerLength = byteAt(8) | byteAt(9) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (prefix.size() < 12)
      return makeError(path, "truncated header");
    headerLength =
        byteAt(8) | byteAt(9) << 8 | byteAt(10) << 16 | byteAt(11) << 24;
    headerStart = 12;
  } else {
    return makeError(path, "unsupported .npy version " + llvm::Twine(major));
  }
  if (headerLength > kMaxHeaderLength)
    return makeError(path, "header of " + llvm::Twine(headerLength) +
                               " bytes is longer than " +
                               llvm::Twine(kMaxHeaderLength));
  if (fileSize < headerStart + headerLength)
    return makeError(path, "truncated header");
  auto headerOr =
      llvm::MemoryBuffer::getFileSlice(path, headerLength, headerStart);
  if (std::error_code ec = headerOr.getError())
    return makeError(path, "cannot read: " + ec.message());
  llvm::StringRef header = (*headerOr)->getBuffer();

  NpyHeader array;
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
  array.payloadSize = *byteSize;
  array.payloadOffset = headerStart + headerLength;
  uint64_t actual = fileSize - array.payloadOffset;
  if (actual != static_cast<uint64_t>(array.payloadSize))
    return makeError(path, "payload has " + llvm::Twine(actual) +
                               " bytes, expected " +
                               llvm::Twine(array.payloadSize));
  return array;
}

llvm::Error npy::readNpyPayload(llvm::StringRef path, const NpyHeader &header,
                                char *destination) {
  if (header.payloadSize == 0)
    return llvm::Error::success();
  llvm::Expected<llvm::sys::fs::file_t> file =
      llvm::sys::fs::openNativeFileForRead(path);
  if (!file)
    return makeError(path, "cannot open: " + llvm::toString(file.takeError()));
  llvm::scope_exit closeFile([&] { llvm::sys::fs::closeFile(*file); });
  // In chunks, so that no read exceeds what the OS takes at once.
  constexpr size_t kChunk = size_t(1) << 26;
  uint64_t done = 0, total = header.payloadSize;
  while (done < total) {
    size_t want = std::min<uint64_t>(kChunk, total - done);
    llvm::Expected<size_t> got = llvm::sys::fs::readNativeFileSlice(
        *file, llvm::MutableArrayRef<char>(destination + done, want),
        header.payloadOffset + done);
    if (!got)
      return makeError(path, "cannot read: " + llvm::toString(got.takeError()));
    if (*got == 0)
      return makeError(path, "payload ended after " + llvm::Twine(done) +
                                 " bytes, expected " + llvm::Twine(total));
    done += *got;
  }
  return llvm::Error::success();
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
