/* flash_bd.h: littlefs's block device (struct lfs_config) on the board's flash (flash.h).
 *
 * Every littlefs block is one erase block of the flash's filesystem partition; the geometry is
 * the board's (block = erase block, block count = fs_size / erase block, read/prog sizes from
 * board.toml), exactly what the host image tools use.
 */
#ifndef WALKIT_FLASH_BD_H
#define WALKIT_FLASH_BD_H

#include "flash.h"
#include "lfs.h"

/* Fills *cfg (every field) for flash's partition; cfg->context is flash, which must outlive
 * every lfs_t mounted with cfg. */
void flash_bd_config(struct lfs_config *cfg, flash_dev *flash);

#endif
