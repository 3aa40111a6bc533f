// The functions are inline in include/CAtomics.h; SwiftPM needs one source file per C target.
#include "CAtomics.h"
