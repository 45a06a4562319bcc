// SPDX-License-Identifier: MIT
// A training loader, the C++ twin of
//   ds = wds.WebDataset(urls, shardshuffle=100).shuffle(1000).decode("rgb8")
//          .map(preprocess).to_tuple("jpg;png;image.jpg", "cls").batched(32)
// usage: wds-train-loader 'shards/train-{000..099}.tar' [threads] [epochs]
// Prints one line per epoch; RANK/WORLD_SIZE in the environment split the shards.
#include <wds/dataset.hpp>
#include <wds/transforms.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SHARDS [threads] [epochs]\n", argv[0]);
    return 2;
  }
  const std::size_t threads = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 4;
  const int epochs = argc > 3 ? std::atoi(argv[3]) : 1;
  // resize the short side to 256, center-crop 224, to CHW float, ImageNet normalize.
  using namespace wds::transforms;
  const auto preprocess = resize{256} | center_crop{224} | to_tensor{} | normalize::imagenet();
  auto ds = wds::dataset(std::string(argv[1]))
                .seed(42)
                .shard_shuffle(100)
                .shuffle(1000)
                .threads(threads)
                .on_error(wds::error_policy::skip)  // count and skip bad samples
                .decode("rgb8")
                .map([&](wds::decoded_sample s) {
                  for (auto& [ext, value] : s.fields())  // every decoded image field
                    if (auto* img = std::get_if<wds::image<std::uint8_t>>(&value)) value = preprocess(img->view());
                  return s;
                })
                .to_tuple<wds::tensor<float>, std::int64_t>("jpg;png;image.jpg", "cls")
                .batched(32);
  for (int e = 0; e < epochs; ++e) {
    std::size_t batches = 0, images = 0;
    double checksum = 0;
    for (auto& [images_nchw, labels] : ds) {  // {32, 3, 224, 224} floats, 32 labels
      ++batches;
      images += labels.size();
      checksum += images_nchw[0];
      // A checkpoint is three numbers: ds.cursor().str(); ds.resume(wds::cursor::parse(saved)).
    }
    std::printf("epoch %d: %zu batches, %zu images, checksum %.4f\n%s\n", e, batches, images, checksum,
                ds.report().str().c_str());
  }
  return 0;
}
