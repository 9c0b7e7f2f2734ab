"""Upper bounds of the sizes a user sets: far above any real use, low enough that a typo is refused
at once instead of filling the memory (a network of N = 100,000 cells takes minutes and tens of GB to
build). The paper's largest network, PNASNet-5 Large, has N = 4 and F = 216 at 331 px."""

MAX_CELLS_PER_STACK = 64
MAX_FILTERS = 4096
MAX_IMAGE_SIZE = 1024
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
