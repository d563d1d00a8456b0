// cblas from OpenBLAS (flags from pkg-config openblas). Only Tensor's matmul/conv files import this.
#include <cblas.h>
