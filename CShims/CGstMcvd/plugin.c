#include "CGstMcvd.h"
