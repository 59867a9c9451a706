/* placeholder: the server (see server.h) */
