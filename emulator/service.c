/* placeholder: the emulated service (see service.h) */
