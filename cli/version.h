/* version.h: the release version of surgery and of the formats it reads and writes. */
#ifndef SURGERY_VERSION_H
#define SURGERY_VERSION_H
/* Ownership: constants only. */
#define SURGERY_VERSION "0.1.0"
#endif
