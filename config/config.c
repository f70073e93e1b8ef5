/* Placeholder until the loader lands. */
#include <errno.h>
#include "config/config.h"
