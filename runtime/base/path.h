/* path.h: file path helpers: the last component of a path, a path relative to another's folder. */
#ifndef SURGERY_PATH_H
#define SURGERY_PATH_H

/* Ownership: path_base_name returns a pointer into its argument; path_beside returns a malloc'd
 * string the caller frees. */

/* The last component of path: "d/x.yaml" -> "x.yaml" (path itself when it has no '/'). */
const char *path_base_name(const char *path);

/* The path of `rel` relative to the folder of `base` (a copy of rel itself when absolute):
 * ("d/x.yaml", "x.safetensors") -> "d/x.safetensors". NULL when out of memory. */
char *path_beside(const char *base, const char *rel);

#endif
