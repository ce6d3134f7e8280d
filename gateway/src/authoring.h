/* authoring.h - tools for data officers who write adapters:
 *   gridgate adapter new NAME --kind pg|odbc|http [--dir DIR]
 *       writes DIR/NAME.lua (a commented skeleton) and prints a config stanza;
 *   gridgate adapter test FILE --source NAME [--limit N]
 *       runs FILE against the live source configured as [source NAME], touches
 *       no state, prints the facts (ids masked), every rejected record with the
 *       reason, and warnings (unknown fields, unit suspicions). */
#ifndef GG_AUTHORING_H
#define GG_AUTHORING_H

/* argv[0] is "adapter". Returns the process exit code. */
int authoring_main(const char *config_path, int argc, char **argv);

#endif
