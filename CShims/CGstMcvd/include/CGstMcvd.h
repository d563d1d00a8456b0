// C shim for the mcvd plugin.
#pragma once
#include <gst/gst.h>
