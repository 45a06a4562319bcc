#include <wds/wds.hpp>

int main() {
  auto jpg = wds::compose("decode|resize(256)|center_crop(224)|jpeg(90)");  // checked up front
  wds::sample_reader in{wds::open_input("tests/data/etl/pets-small.tar"), "tests/data/etl/pets-small.tar"};
  wds::tar_writer out{wds::open_output("pets-small-224.tar")};  // atomic: appears on finish()
  for (wds::sample& s : in) {  // fields: image.jpg, trimap.png, cls, json
    if (wds::field* f = s.find("image.jpg")) f->data = jpg.apply(f->data, {in.url(), f->member, f->offset});
    out.write_sample(s);
  }
  out.finish();
}
